# A 24-hour clock in English too, so both languages show the same time the same way.
DATETIME_FORMAT = "N j, Y, H:i"

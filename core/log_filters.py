"""Log filters. An ordinary refusal (403, 404) is a line that says who was refused what, not a
traceback: tracebacks are for what went wrong in the code."""

import logging


class RefusalWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (403, 404):
            request = getattr(record, "request", None)
            user = getattr(request, "user", None)
            who = user.get_username() if user is not None and user.is_authenticated else "anonymous"
            record.msg = f"{record.msg} (user: %s)"
            record.args = (*(record.args or ()), who)
            record.exc_info = None
            record.exc_text = None
        return True

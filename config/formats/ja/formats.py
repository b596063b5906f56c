# Japanese pages read "2026年11月26日 14:05" (GLOSSARY.md); Django's own ja format has no space.
DATETIME_FORMAT = "Y年n月j日 H:i"

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# What loading made lives as long as the process: out of the collector's sight, so that a full
# collection (every thread of the worker waits for it) scans only what requests made.
gc.freeze()

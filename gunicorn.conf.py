# Gunicorn reads this file from its working directory (the Dockerfile's /app, or the checkout).
# The access log goes through a logger that redacts calendar feed secrets and token= values.
logger_class = "ivig_clinic.gunicorn_logging.RedactingLogger"

"""FieldError: impossible input to a pure calculation, naming the field it came from.

Pure modules (dose, time, TIS and instrument arithmetic, the risk rules) raise it; services,
forms and the API put ``.message`` next to ``.field`` without reading the text apart. Plain
Python, no Django: the pure modules may import it."""


class FieldError(ValueError):
    """A ValueError that names its field: ``str()`` is "field: message", as before.

    >>> error = FieldError("days", "must be between 2 and 5 for dermatomyositis, not 6")
    >>> error.field, str(error)
    ('days', 'days: must be between 2 and 5 for dermatomyositis, not 6')
    >>> error.sentence
    'Must be between 2 and 5 for dermatomyositis, not 6'
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def sentence(self) -> str:
        """The message as a sentence for a form field: its first letter capitalised."""
        return self.message[:1].upper() + self.message[1:]

from django.db import models


class Pin(models.Model):
    """A server-side read-your-writes mark for a client identity such as ``partner:12``.

    One row per identity, updated in place, so the table stays as small as the number of API
    clients. Read and written on the writer only (see phoenix.db.pinning).
    """

    key = models.CharField(max_length=150, primary_key=True)
    until = models.DateTimeField(help_text="Reads of this client go to the writer until then.")

    def __str__(self) -> str:
        return f"{self.key} until {self.until:%H:%M:%S}"

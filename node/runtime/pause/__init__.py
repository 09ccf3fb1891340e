"""The sandbox ("pause") image: its C source (`pause.c`) and its builder (`image.py`).

Only the image's name lives here, so the in-memory runtime can name it without
importing the Docker SDK.
"""

PAUSE_IMAGE = "jota/pause:3.9"

"""organizer: group a library of videos by what they show."""

__version__ = "0.1.0"

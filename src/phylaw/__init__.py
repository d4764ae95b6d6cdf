"""phylaw: can a video generation model learn physical laws from video alone?"""

__version__ = "0.1.0"

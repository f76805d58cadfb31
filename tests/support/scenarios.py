"""Scenarios many tests share: what is said in a shared recording, with its translations.

``THREE`` is the three utterances of ``INSPECT`` (``../shared/audio``) with German and Spanish
translations; ``WEATHER`` the one utterance of the weather question.
"""

from __future__ import annotations

INSPECT = "en-US_custom-speech-inspect.wav"
THREE = {
    "utterances": [
        {
            "offset_ms": 100,
            "duration_ms": 7900,
            "text": "Custom Speech provides tools to inspect the recognition quality of a model.",
            "translations": {
                "de": "Custom Speech bietet Werkzeuge zur Prüfung der Qualität.",
                "es": "Custom Speech ofrece herramientas para inspeccionar la calidad.",
            },
        },
        {
            "offset_ms": 8850,
            "duration_ms": 6000,
            "text": "From the Custom Speech portal, you can play back uploaded audio.",
            "translations": {
                "de": "Im Custom Speech-Portal können Sie Audio wiedergeben.",
                "es": "Desde el portal puede reproducir el audio.",
            },
        },
        {
            "offset_ms": 15000,
            "duration_ms": 8900,
            "text": "This tool allows you to quickly inspect quality.",
            "translations": {
                "de": "Mit diesem Tool prüfen Sie schnell die Qualität.",
                "es": "Esta herramienta le permite inspeccionar la calidad.",
            },
        },
    ]
}

WEATHER = {
    "utterances": [
        {
            "offset_ms": 100,
            "duration_ms": 1290,
            "text": "What's the weather like?",
            "translations": {"de": "Wie ist das Wetter?"},
        }
    ]
}

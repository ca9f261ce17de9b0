"""Transitional alias of ``threshold.py`` (the 满减 rules), for ``app/rules/hints.py`` only.

``hints.py`` is being rewritten on another branch; when that lands it imports
``app.rules.benefits.threshold`` directly and this module is deleted. Nothing
else may import it (``tests/unit/test_layout.py`` checks).
"""

from app.rules.benefits.threshold import highest_reached, threshold_discount

__all__ = ["highest_reached", "threshold_discount"]

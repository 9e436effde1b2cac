"""Models. Import the module you need (``from movinet_crossfit.models import movinet``); this
package imports nothing itself, so a light model does not pay for loading Model Garden.

* ``movinet``: MoViNet *base* classifiers, their feature/head split, verified Kinetics-600 weights.
* ``fast_ops``: the exact builtin-op (2-D) equivalents of MoViNet's Conv3D / AvgPool3D layers.
"""

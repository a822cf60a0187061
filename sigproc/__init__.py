"""sigproc: signal-processing library (filters, gaps, attitude, sync, phases, normalisation, windows).

Arrays are time-first (axis 0 = time) unless an ``axis`` argument says otherwise.
Import submodules directly, e.g. ``from sigproc.filters import butter_lowpass``.
"""

from . import attitude, filters, gaps, normalize, phases, sync, windows

__all__ = ["attitude", "filters", "gaps", "normalize", "phases", "sync", "windows"]

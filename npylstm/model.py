"""The old home of ``Sequential``, now :mod:`npylstm.models`.

Importing this module makes ``npylstm.model`` the very module object ``npylstm.models``, so
``from npylstm.model import Sequential`` keeps working and ``npylstm.model.BLAS_THREADS``
*is* the one setting ``npylstm.models.BLAS_THREADS`` (setting either changes what
``fit``/``predict``/... use), not a copy of it.

>>> import npylstm.model, npylstm.models
>>> npylstm.model is npylstm.models
True
"""

from __future__ import annotations

import sys

from . import models

sys.modules[__name__] = models

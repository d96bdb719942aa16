"""The code lists of the Loaders 2.0 contract (SPEC §3 and its annexes), in documentation order.

Where Qlower's documentation changed a list between versions without changing ``versionId``
(it is "2.0" throughout), the union is accepted so that a partner built against any version of
the docs is not refused; the server maps meanings.
"""

from __future__ import annotations

LEGAL_STATUS = ("5426", "5710", "1000", "2110", "6540", "6599")
"""INSEE 'catégorie juridique': SARL de gestion, SAS, EI, indivision, SCI, other société civile."""
TAX_REGIME_AGGREGATION = ("IR", "IS")
TAX_CATEGORY = ("1", "2", "3", "4", "5")
"""BA, BIC, BNC, revenus fonciers, unknown."""
DECLARANT_TAX_REGIME = tuple(str(n) for n in range(1, 13))
"""Current docs: 3, 4, 10, 11, 12; the 2.1 annex had 1–10 (groups, SCM…): the union is 1–12."""
PROPERTY_TYPE = ("A", "H", "CL", "P")
YES_NO = ("O", "N")
MANAGED = ("D", "A", "STRP", "M")
REMOVE = ("", "R")
REMOVE_REQUEST = "R"
TVA_OPTION = ("N", "10", "20")
PROPERTY_TAX_REGIME = tuple(str(n) for n in (*range(1, 34), *range(35, 46), *range(90, 96)))
"""Annex 'régimes fiscaux - propriété' (2.2 and later; 34 is not assigned); default 7 (unknown)."""
COMPLETION_STATUS = ("NEW", "VEFA", "OLD")
CIVILITY = ("M", "MME", "SOC")
MANAGER = ("O", "N", "TRUE", "FALSE")
"""O/N in the docs; TRUE/FALSE in the Oct-2024 examples, still tolerated."""
CURRENCY = ("EUR", "USD", "GBP")
FILE_TYPE = ("26", "27", "42", "53", "55", "56", "58", "59", "60", "61")

"""Sphinx configuration of the medl docs site (``make docs``; warnings are errors there)."""

from importlib.metadata import version as _version

project = "medl"
author = "medl developers"
release = _version("medl")
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # numpy-style docstrings
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" as fields: autodoc lists the members themselves
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
# the docstrings name medl's own objects; numpy, torch and AnnData types are not linked
nitpicky = False
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
suppress_warnings = ["myst.xref_missing"]
html_theme = "alabaster"
html_static_path: list[str] = []

"""The deployment bundle: a council's organisations, boundaries, categories and rules, as data."""

from signpost.bundle.loader import BundleError, load_bundle
from signpost.bundle.model import (
    Boundary,
    Bundle,
    Category,
    Clerk,
    Organisation,
    OwnerRef,
    Question,
    Rule,
    RuleConditions,
)

__all__ = [
    "Boundary",
    "Bundle",
    "BundleError",
    "Category",
    "Clerk",
    "Organisation",
    "OwnerRef",
    "Question",
    "Rule",
    "RuleConditions",
    "load_bundle",
]

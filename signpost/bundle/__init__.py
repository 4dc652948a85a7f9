"""The deployment bundle: a council's organisations, boundaries, categories and rules, as data."""

from signpost.bundle.loader import BundleError, bundle_digest, load_bundle, load_bundle_or_exit
from signpost.bundle.model import (
    Boundary,
    Bundle,
    Category,
    ChannelConfig,
    Clerk,
    EmailConfig,
    ModernGovLookup,
    NotifyConfig,
    Open311Config,
    Organisation,
    OwnerRef,
    Question,
    Rule,
    RuleConditions,
    WebhookConfig,
)

__all__ = [
    "Boundary",
    "Bundle",
    "BundleError",
    "Category",
    "ChannelConfig",
    "Clerk",
    "EmailConfig",
    "ModernGovLookup",
    "NotifyConfig",
    "Open311Config",
    "Organisation",
    "OwnerRef",
    "Question",
    "Rule",
    "RuleConditions",
    "WebhookConfig",
    "bundle_digest",
    "load_bundle",
    "load_bundle_or_exit",
]

"""What a bundle holds, validated with pydantic so a council's mistakes are named on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Literal

# Only builds an Element to check path syntax; never parses XML (bandit B405 reviewed).
from xml.etree.ElementTree import Element  # nosec B405

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from shapely.geometry.base import BaseGeometry

from schemas import Owner, Tier

if TYPE_CHECKING:  # templates.py imports this module
    from signpost.bundle.templates import EmailTemplates

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
LAYERS = ("parish", "district", "county", "estate")
Layer = Literal["parish", "district", "county", "estate"]


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Clerk(Entry):
    """The person (or shared mailbox) at an organisation who receives its reports."""

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    role: str = "Clerk"


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$", max_length=500)]


class EmailConfig(Entry):
    type: Literal["email"] = "email"


class NotifyConfig(Entry):
    """GOV.UK Notify. Secrets stay out of the bundle: it names the env var holding the key."""

    type: Literal["notify"]
    template_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]
    api_key_env: EnvName
    base_url: HttpUrl = "https://api.notifications.service.gov.uk"


class WebhookConfig(Entry):
    type: Literal["webhook"]
    url: HttpUrl
    secret_env: EnvName


class Open311Config(Entry):
    type: Literal["open311"]
    endpoint: HttpUrl = Field(description="GeoReport v2 base, without /requests.json")
    api_key_env: EnvName
    service_code: str = Field(min_length=1, max_length=100)


ChannelConfig = Annotated[
    EmailConfig | NotifyConfig | WebhookConfig | Open311Config, Field(discriminator="type")
]


class ModernGovLookup(Entry):
    """Where a Modern.Gov web service names this organisation's contact: GET
    `{base_url}/mgWebService.asmx/{method}?{params}`, take the entries at `entry_path`, pick the
    one whose `match_path` text is `match_value`, read its name and email. Paths are
    ElementTree paths, the last four relative to the entry. E.g. a ward's first councillor:
    entry_path `.//ward`, match_path `wardtitle`, name_path `councillors/councillor/fullusername`.
    """

    base_url: HttpUrl
    method: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,60}$")]
    params: dict[str, str] = Field(default_factory=dict)
    entry_path: str = ".//councillor"
    match_path: str = "councillorid"
    match_value: str = Field(min_length=1, max_length=200)
    name_path: str = "fullusername"
    email_path: str = "workaddress/email"

    @field_validator("entry_path", "match_path", "name_path", "email_path")
    @classmethod
    def _element_path(cls, path: str) -> str:
        try:
            Element("probe").find(path)
        except SyntaxError as exc:
            raise ValueError(f"not an ElementTree path: {exc}") from None
        return path


class Organisation(Entry):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    tier: Tier
    area: str | None = Field(None, description="Boundary feature id this organisation covers")
    channel: ChannelConfig = Field(default_factory=EmailConfig)
    clerk: Clerk = Field(description="The static entry, and the fallback for a look-up")
    modern_gov: ModernGovLookup | None = None
    share_reporter_details: bool = Field(
        False, description="Whether the resident's contact details go to this organisation"
    )

    def as_owner(self) -> Owner:
        """The organisation as events name an owner."""
        return Owner(id=self.id, name=self.name, tier=self.tier)

    @field_validator("channel", mode="before")
    @classmethod
    def _bare_type(cls, value: object) -> object:
        """`channel: email` (the original format) means `{type: email}`."""
        return {"type": value} if isinstance(value, str) else value


class Question(Entry):
    id: Identifier
    text: str = Field(min_length=1, max_length=300)
    answers: list[str] = Field(min_length=2, max_length=20)


class Category(Entry):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    questions: list[Question] = Field(default_factory=list, max_length=3)
    sla_hours: float = Field(72, gt=0)
    sensitive: bool = Field(False, description="Reports of it reveal a resident's home (housing "
                            "repairs): never shown to callers without a reading API key")

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


class RuleConditions(Entry):
    """Everything listed must hold; an empty condition set always matches."""

    answers: dict[str, str | list[str]] = Field(default_factory=dict)
    inside: list[Layer] = Field(default_factory=list, description="Point lies in a feature of each")
    outside: list[Layer] = Field(default_factory=list, description="Point lies in none of each")
    uprn_registered: bool | None = Field(None, description="UPRN is in the housing register")
    area_tier: dict[Layer, list[Tier]] = Field(
        default_factory=dict,
        description="The organisation covering the point's feature of each layer has one of "
        "these tiers, e.g. {district: [unitary]} for county matters a unitary handles",
    )


class OwnerRef(Entry):
    """Who owns a matching report: the organisation covering a layer, or a fixed one."""

    layer: Layer | None = None
    housing_provider: bool = Field(False, description="The provider owning the UPRN or estate")
    organisation: Identifier | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> OwnerRef:
        chosen = [self.layer is not None, self.housing_provider, self.organisation is not None]
        if sum(chosen) != 1:
            raise ValueError("name exactly one of: layer, housing_provider, organisation")
        return self

    def describe(self) -> str:
        if self.organisation:
            return f"organisation {self.organisation}"
        return "the housing provider" if self.housing_provider else f"the containing {self.layer}"


class Rule(Entry):
    id: Identifier
    description: str = ""
    category: Identifier | Literal["*"]
    when: RuleConditions = Field(default_factory=RuleConditions)
    owner: OwnerRef


@dataclass(frozen=True)
class Boundary:
    """One polygon of a boundary layer, in WGS84 lon/lat."""

    layer: str
    feature_id: str
    name: str
    geometry: BaseGeometry
    provider: str | None = None  # estates only: the housing provider that owns it


@dataclass(frozen=True)
class Bundle:
    name: str
    version: str
    organisations: dict[str, Organisation]
    categories: dict[str, Category]
    rules: list[Rule]
    boundaries: list[Boundary]
    housing_register: dict[str, str] = field(default_factory=dict)  # UPRN -> provider id
    # Category id -> its own email, compiled; other categories use the notifier's default.
    templates: dict[str, EmailTemplates] = field(default_factory=dict)

    def organisation_for_area(self, feature_id: str) -> Organisation | None:
        return self._area_owners.get(feature_id)

    @cached_property
    def _area_owners(self) -> dict[str, Organisation]:
        return {o.area: o for o in self.organisations.values() if o.area}

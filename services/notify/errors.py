"""What the notify use cases refuse, and how each refusal answers over HTTP (`ERRORS`).

Three families: a preference document that is not valid (`InvalidPreferences` and its
subclasses, 422), a channel target that is refused as a server-side request forgery risk
(`TargetRefused` and its subclasses, 422, each code naming why), and a template that asks for
a variable the renderer did not give (`TemplateVariableMissing`: a bug of ours, recorded on the
notification's attempt; over HTTP it would be a 500, so it has no row here).
"""

from __future__ import annotations

from shared.errors import DomainError, NotFound
from shared.web.problems import Problem, ProblemTable


class InvalidPreferences(DomainError):
    """A preference document that does not validate; `field` names where (e.g. `channels.1.url`)."""

    code = "invalid_preferences"


class UnknownLanguage(InvalidPreferences):
    code = "unknown_language"


class UnknownEvent(InvalidPreferences):
    code = "unknown_event"


class UnknownChannelType(InvalidPreferences):
    code = "unknown_channel_type"


class InvalidSecret(InvalidPreferences):
    """A channel secret in the wrong format for its channel (`whsec_...` for webhooks, `SEC...` for DingTalk)."""

    code = "invalid_secret"


class SecretRequired(InvalidPreferences):
    """A channel that needs a secret came without one and none is stored for the same target."""

    code = "secret_required"


class UnknownTimezone(InvalidPreferences):
    code = "unknown_timezone"


class TargetRefused(DomainError):
    """Base of every refused channel URL: the code says why; `field` names the channel."""

    code = "target_refused"


class TargetMalformed(TargetRefused):
    code = "target_malformed"


class TargetHttpsRequired(TargetRefused):
    code = "target_https_required"


class TargetMetadataAddress(TargetRefused):
    """A cloud metadata service: refused always, even with private targets allowed."""

    code = "target_metadata_address"


class TargetLoopback(TargetRefused):
    code = "target_loopback"


class TargetPrivateAddress(TargetRefused):
    code = "target_private_address"


class TargetLinkLocal(TargetRefused):
    code = "target_link_local"


class TargetMulticast(TargetRefused):
    code = "target_multicast"


class TargetUnspecified(TargetRefused):
    code = "target_unspecified"


class TargetNotPublic(TargetRefused):
    """Reserved, shared (CGNAT), documentation or other non-global ranges."""

    code = "target_not_public"


class TargetUnresolvable(TargetRefused):
    code = "target_unresolvable"


class TemplateVariableMissing(DomainError):
    """A template used a variable the renderer did not pass (StrictUndefined): a bug, never a blank."""

    code = "template_variable_missing"


class PreferencesNotFound(NotFound):
    """The seller has saved no preferences (so nothing is sent to it)."""

    code = "preferences_not_found"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


class SellerRequired(DomainError):
    """An operator reading or saving preferences names the seller (`?seller_id=`)."""

    code = "seller_id_required"


class NotRetryable(DomainError):
    """Only a failed notification (retrying, dead, disabled) can be made due now; `status` says what it is."""

    code = "not_retryable"


ERRORS: ProblemTable = {
    PreferencesNotFound: Problem(404, "preferences_not_found", "Preferences not found"),
    NotificationNotFound: Problem(404, "notification_not_found", "Notification not found"),
    SellerRequired: Problem(422, "seller_id_required", "Seller required"),
    NotRetryable: Problem(409, "not_retryable", "Notification not retryable"),
    UnknownLanguage: Problem(422, "unknown_language", "Unknown language"),
    UnknownEvent: Problem(422, "unknown_event", "Unknown event type"),
    UnknownChannelType: Problem(422, "unknown_channel_type", "Unknown channel type"),
    InvalidSecret: Problem(422, "invalid_secret", "Secret in the wrong format"),
    SecretRequired: Problem(422, "secret_required", "Secret required"),
    UnknownTimezone: Problem(422, "unknown_timezone", "Unknown time zone"),
    InvalidPreferences: Problem(422, "invalid_preferences", "Invalid preferences"),
    TargetMalformed: Problem(422, "target_malformed", "Channel URL malformed"),
    TargetHttpsRequired: Problem(422, "target_https_required", "Channel URL must use https"),
    TargetMetadataAddress: Problem(422, "target_metadata_address", "Channel URL points at a cloud metadata service"),
    TargetLoopback: Problem(422, "target_loopback", "Channel URL points at a loopback address"),
    TargetPrivateAddress: Problem(422, "target_private_address", "Channel URL points at a private address"),
    TargetLinkLocal: Problem(422, "target_link_local", "Channel URL points at a link-local address"),
    TargetMulticast: Problem(422, "target_multicast", "Channel URL points at a multicast address"),
    TargetUnspecified: Problem(422, "target_unspecified", "Channel URL points at an unspecified address"),
    TargetNotPublic: Problem(422, "target_not_public", "Channel URL points at a non-public address"),
    TargetUnresolvable: Problem(422, "target_unresolvable", "Channel URL host does not resolve"),
    TargetRefused: Problem(422, "target_refused", "Channel URL refused"),
}

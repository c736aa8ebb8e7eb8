from rest_framework import serializers

from accounts.models import Identity
from certificates import pki
from certificates.models import Certificate, CertificateProfile, RevocationReason
from ztconsole.core.fields import StrictBooleanField


class CertificateSerializer(serializers.ModelSerializer):
    identity = serializers.PrimaryKeyRelatedField(read_only=True)
    identity_username = serializers.CharField(source="identity.user.username", read_only=True)
    profile = serializers.SlugRelatedField(slug_field="name", read_only=True)
    revoked_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    superseded_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    pins = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id",
            "serial",
            "identity",
            "identity_username",
            "profile",
            "status",
            "subject",
            "key_description",
            "not_before",
            "not_after",
            "revocation_reason",
            "revoked_at",
            "revoked_by",
            "superseded_by",
            "sha256",
            "spki_sha256",
            "pins",
            "created_at",
        ]
        read_only_fields = fields

    def get_pins(self, obj) -> dict:
        return {"sha256": obj.sha256, "spki_sha256": obj.spki_sha256}


class CertificateDetailSerializer(CertificateSerializer):
    """Adds the PEM and the decoded fields (SANs, EKU, key, signature hash, issuer)."""

    pem = serializers.CharField(read_only=True)
    decoded = serializers.SerializerMethodField()

    class Meta(CertificateSerializer.Meta):
        fields = [*CertificateSerializer.Meta.fields, "pem", "decoded"]
        read_only_fields = fields

    def get_decoded(self, obj) -> dict:
        d = pki.decode(pki.load_certificate(obj.pem))
        return {
            "subject": d.subject,
            "issuer": d.issuer,
            "serial": d.serial,
            "not_before": d.not_before.isoformat(),
            "not_after": d.not_after.isoformat(),
            "key": str(d.key),
            "signature_hash": d.signature_hash,
            "extended_key_usage": d.ekus,
            "san": {"uri": d.uris, "dns": d.dns_names, "ip": d.ip_addresses, "email": d.emails},
        }


class IssueSerializer(serializers.Serializer):
    identity = serializers.PrimaryKeyRelatedField(queryset=Identity.objects.select_related("user"))
    profile = serializers.SlugRelatedField(slug_field="name", queryset=CertificateProfile.objects.all())
    csr = serializers.CharField(max_length=20000, trim_whitespace=False)
    lifetime_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RevocationReason.choices)
    comment = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RenewSerializer(serializers.Serializer):
    csr = serializers.CharField(max_length=20000, required=False, allow_blank=True, trim_whitespace=False)
    revoke_old = StrictBooleanField(default=False)
    lifetime_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)

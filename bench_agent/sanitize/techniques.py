"""Each wipe method named as NIST SP 800-88 Rev. 2 wants it: the IEEE 2883-2022 technique, its
sanitization category, and the interface command the drive is actually sent.

Rev. 2 defers the techniques to IEEE 2883-2022. ATA SECURITY ERASE UNIT is not one of them: a
certificate for it says so and keeps the Rev. 1 (Appendix A) Purge classification.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench_agent.i18n import N_

NIST_REV2 = "NIST SP 800-88 Rev. 2"
NIST_REV1 = "NIST SP 800-88 Rev. 1"
IEEE_2883 = "IEEE 2883-2022"


@dataclass(frozen=True)
class Technique:
    method: str
    category: str  # clear | purge
    ieee_2883: str  # the technique's name in IEEE 2883-2022; "" when it is not one of them
    interface: str
    interface_command: str
    note: str = ""  # an English msgid, translated when shown

    @property
    def classified_by(self) -> str:
        return IEEE_2883 if self.ieee_2883 else NIST_REV1


_OVERWRITE_COMMAND = "WRITE commands over every addressable LBA (Linux block layer, O_DIRECT)"
_ATA_SECURITY_NOTE = N_(
    "ATA SECURITY ERASE UNIT is not an IEEE 2883-2022 technique; classified Purge as "
    "in NIST SP 800-88 Rev. 1, Appendix A."
)

TECHNIQUES: dict[str, Technique] = {
    t.method: t
    for t in (
        Technique("zero", "clear", "Overwrite", "any (block writes)", _OVERWRITE_COMMAND),
        Technique("random", "clear", "Overwrite", "any (block writes)", _OVERWRITE_COMMAND),
        Technique(
            "nvme-sanitize-crypto",
            "purge",
            "Sanitize Crypto Erase",
            "NVMe",
            "NVMe Sanitize, SANACT 100b (Start a Crypto Erase sanitize operation)",
        ),
        Technique(
            "nvme-sanitize-block",
            "purge",
            "Sanitize Block Erase",
            "NVMe",
            "NVMe Sanitize, SANACT 010b (Start a Block Erase sanitize operation)",
        ),
        Technique(
            "nvme-format-crypto",
            "purge",
            "Format NVM with secure erase (Cryptographic Erase)",
            "NVMe",
            "NVMe Format NVM, SES 010b (Cryptographic Erase)",
        ),
        Technique(
            "nvme-format-user-data",
            "purge",
            "Format NVM with secure erase (User Data Erase)",
            "NVMe",
            "NVMe Format NVM, SES 001b (User Data Erase)",
        ),
        Technique(
            "ata-sanitize-crypto",
            "purge",
            "Sanitize Crypto Erase",
            "ATA",
            "ATA SANITIZE DEVICE, CRYPTO SCRAMBLE EXT (B4h/0011h)",
        ),
        Technique(
            "ata-sanitize-block",
            "purge",
            "Sanitize Block Erase",
            "ATA",
            "ATA SANITIZE DEVICE, BLOCK ERASE EXT (B4h/0012h)",
        ),
        Technique(
            "ata-sanitize-overwrite",
            "purge",
            "Sanitize Overwrite",
            "ATA",
            "ATA SANITIZE DEVICE, OVERWRITE EXT (B4h/0014h)",
        ),
        Technique(
            "ata-secure-erase-enhanced",
            "purge",
            "",
            "ATA",
            "ATA SECURITY ERASE UNIT (F4h), enhanced mode",
            _ATA_SECURITY_NOTE,
        ),
        Technique(
            "ata-secure-erase",
            "purge",
            "",
            "ATA",
            "ATA SECURITY ERASE UNIT (F4h), normal mode",
            _ATA_SECURITY_NOTE,
        ),
    )
}


def technique_for(method: str) -> Technique | None:
    return TECHNIQUES.get(method)


# What each method does, in the certificate's words (English: the certificate's data).
METHOD_DESCRIPTIONS = {
    "zero": "single-pass overwrite with zeros (0x00)",
    "random": "single-pass overwrite with an AES-256-CTR pseudo-random stream",
    "nvme-sanitize-crypto": "NVMe Sanitize, crypto erase",
    "nvme-sanitize-block": "NVMe Sanitize, block erase",
    "nvme-format-crypto": "NVMe Format NVM, Secure Erase Setting 2 (cryptographic erase)",
    "nvme-format-user-data": "NVMe Format NVM, Secure Erase Setting 1 (user data erase)",
    "ata-sanitize-crypto": "ATA SANITIZE, CRYPTO SCRAMBLE",
    "ata-sanitize-block": "ATA SANITIZE, BLOCK ERASE",
    "ata-sanitize-overwrite": "ATA SANITIZE, OVERWRITE (1 pass of zeros)",
    "ata-secure-erase-enhanced": "ATA SECURITY ERASE UNIT, enhanced mode",
    "ata-secure-erase": "ATA SECURITY ERASE UNIT, normal mode",
}

"""Terraform's cloud errors -> one line a user can act on (the CLI exits 2 with it).

Terraform prints provider errors as multi-line blocks full of request ids; the user needs the
cause and the fix. Unknown errors keep Terraform's first `Error:` line, redacted.
"""

from __future__ import annotations

import re

from riftdrill.errors import RiftdrillError
from riftdrill.guard import redact

# (pattern in Terraform's output, one-line message); first match wins.
_KNOWN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"AWS account ID not allowed: (\d+)"),
     "AWS account {0} is not in allowed_aws_account_ids of terraform.tfvars; "
     "use the drill account's credentials"),
    (re.compile(r"No valid credential sources found|NoCredentialProviders|failed to refresh "
                r"cached credentials|ExpiredToken"),
     "no valid AWS credentials; set AWS_PROFILE or run `aws sso login` for the drill account"),
    (re.compile(r"could not find default credentials|google: could not find default"),
     "no Google credentials; run `gcloud auth application-default login`"),
    (re.compile(r"(?:VcpuLimitExceeded|InstanceLimitExceeded|AddressLimitExceeded|"
                r"VpcLimitExceeded|QUOTA_EXCEEDED|Quota '([A-Z_]+)' exceeded)"),
     "a cloud quota is exhausted ({match}); raise it in the console or deploy fewer brokers "
     "(brokers_per_cloud), then `make deploy` again (or `riftdrill destroy`)"),
    (re.compile(r"invalid AWS Region: (\S+)|Invalid region (\S+)"),
     "AWS region {0} does not exist; fix aws_region in terraform.tfvars"),
    (re.compile(r"Invalid value for zone|Unknown zone|The zone '[^']*/zones/([^']+)' "
                r"(?:does not exist|is not available)"),
     "GCP zone {0} is not available; fix gcp_zones / gcp_region in terraform.tfvars"),
    (re.compile(r"(?:InvalidParameterValue|Unsupported).*?[Aa]vailability [Zz]one ([a-z0-9-]+)"),
     "availability zone {0} cannot host this; set aws_azs in terraform.tfvars"),
    (re.compile(r'The root module input variable "(aws_ami_id)" is not set'),
     "terraform.tfvars sets no {0}; pin the aws nodes' AMI by id: "
     "`scripts/cloud/print-ami.sh --region <aws_region>` prints the current Ubuntu one"),
    (re.compile(r'The root module input variable "(\w+)" is not set'),
     "terraform.tfvars sets no {0}, which has no default; see "
     "infra/envs/aws-gcp/terraform.tfvars.example"),
    (re.compile(r"UnauthorizedOperation|AccessDenied|Error 403"),
     "the credentials lack a permission Terraform needs ({match}); use an admin role of the "
     "drill account"),
]


class CloudDeployError(RiftdrillError):
    """Terraform could not build (or tear down) the cloud resources."""


def explain(output: str, action: str = "deploy") -> CloudDeployError:
    """One clear line for a failed Terraform run on the aws-gcp env."""
    for pattern, message in _KNOWN:
        m = pattern.search(output)
        if m:
            groups = [g for g in m.groups() if g] or [m.group(0)]
            text = message.format(*groups, match=m.group(0))
            return CloudDeployError(redact(f"{action} failed: {text}"))
    first = re.search(r"Error: (.+)", output)
    detail = first.group(1).strip() if first else "terraform failed"
    return CloudDeployError(redact(f"{action} failed: {detail}; `riftdrill status` shows what "
                                   "exists, `riftdrill destroy` removes it"))

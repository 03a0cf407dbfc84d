"""The current Canonical Ubuntu AMI of a region, to pin as aws_ami_id (infra/envs/aws-gcp).

The aws-cluster module takes its AMI by id and never looks one up at apply time: a newer image
published between two applies must not decide what a node runs. This prints the id to pin:
one `DescribeImages` call filtered on Canonical's owner id and the image name pattern, newest
creation date first. `scripts/cloud/print-ami.sh --region eu-west-1` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from riftdrill.errors import RiftdrillError

CANONICAL_OWNER_ID = "099720109477"
# Ubuntu 24.04 (noble), amd64, gp3 root: what the cloud-init (apt, systemd) is written for.
UBUNTU_NAME_PATTERN = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"


class AmiNotFoundError(RiftdrillError):
    """No image matches the owner and name pattern in the region."""


@dataclass(frozen=True)
class Ami:
    image_id: str
    name: str
    creation_date: str
    root_device_name: str


def newest_image(images: Sequence[Mapping[str, Any]], region: str) -> Ami:
    """The most recently created of `images` (DescribeImages' `Images`); ISO 8601 creation
    dates sort as text. Deprecated or non-available images are left out."""
    usable = [i for i in images if i.get("State", "available") == "available"]
    if not usable:
        raise AmiNotFoundError(
            f"no available image named {UBUNTU_NAME_PATTERN} in {region}; check the region "
            "(aws ec2 describe-regions) or pass --name-pattern")
    best = max(usable, key=lambda i: (str(i.get("CreationDate", "")), str(i["ImageId"])))
    return Ami(image_id=str(best["ImageId"]), name=str(best.get("Name", "")),
               creation_date=str(best.get("CreationDate", "")),
               root_device_name=str(best.get("RootDeviceName", "")))


def current_ubuntu_ami(ec2: Any, region: str, owner: str = CANONICAL_OWNER_ID,
                       name_pattern: str = UBUNTU_NAME_PATTERN) -> Ami:
    """Ask EC2 (a boto3 client of `region`) for the newest matching image."""
    # The architecture is in Canonical's image names (amd64), so the name filter selects it.
    res = ec2.describe_images(Owners=[owner], Filters=[
        {"Name": "name", "Values": [name_pattern]},
        {"Name": "state", "Values": ["available"]},
    ])
    return newest_image(res.get("Images", []), region)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="print-ami", description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True, help="AWS region, e.g. eu-west-1")
    parser.add_argument("--owner", default=CANONICAL_OWNER_ID, help="image owner id (Canonical)")
    parser.add_argument("--name-pattern", default=UBUNTU_NAME_PATTERN)
    parser.add_argument("--json", action="store_true", help="id, name, date and root device")
    args = parser.parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ami = current_ubuntu_ami(boto3.client("ec2", region_name=args.region), args.region,
                                 args.owner, args.name_pattern)
    except RiftdrillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (BotoCoreError, ClientError) as exc:
        print(f"error: cannot list images in {args.region}: {exc}; check the AWS credentials "
              "(AWS_PROFILE, aws sso login) and the region", file=sys.stderr)
        return 2
    print(json.dumps(asdict(ami)) if args.json else ami.image_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Phoenix AMI: Amazon Linux 2023, python3.12, the application in a virtualenv from the pinned
# requirements, static files collected, the systemd units, the CloudWatch agent and
# aws-cfn-bootstrap. Nothing secret is baked in: deploy/userdata.sh configures at boot.
#
#   git archive --format=tar.gz -o dist/phoenix.tar.gz HEAD
#   packer build -var app_archive=dist/phoenix.tar.gz -var app_version=$(git rev-parse --short HEAD) deploy/packer
#
# This file uses only what Packer 1.6 understands (no `packer` or `data` blocks), so that
# `packer validate deploy/packer/phoenix.pkr.hcl` works with Debian's packer and current ones.

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region where the AMI is built (copy it to the DR region with ami_regions)."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Extra regions to copy the AMI to, e.g. [\"us-west-2\"] for disaster recovery."
}

variable "instance_type" {
  type        = string
  default     = "t3.medium"
  description = "Builder instance type."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet for the builder instance (empty: the default VPC)."
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key for the AMI's EBS snapshot (empty: the account's default EBS key)."
}

variable "app_archive" {
  type        = string
  default     = "dist/phoenix.tar.gz"
  description = "Tarball of the repository (git archive) to install."
}

variable "app_version" {
  type        = string
  default     = "dev"
  description = "Version label (the git commit) recorded in the AMI name and tags."
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "phoenix" {
  region        = var.region
  ami_regions   = var.ami_regions
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ami_name      = "phoenix-${var.app_version}-${local.timestamp}"
  ssh_username  = "ec2-user"
  communicator  = "ssh"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  encrypt_boot = true
  kms_key_id   = var.kms_key_id

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    throughput            = 125
    iops                  = 3000
    encrypted             = true
    delete_on_termination = true
  }

  # IMDSv2 is required by the fleet's launch template (application.yaml); the builder's
  # metadata_options block is left out because Packer 1.6 does not know it.

  tags = {
    Name        = "phoenix-${var.app_version}"
    Application = "phoenix"
    Version     = var.app_version
    BaseAMI     = "{{ .SourceAMI }}"
  }
}

build {
  sources = ["source.amazon-ebs.phoenix"]

  provisioner "file" {
    source      = var.app_archive
    destination = "/tmp/phoenix.tar.gz"
  }

  provisioner "shell" {
    script          = "${path.root}/provision.sh"
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
    environment_vars = [
      "PHOENIX_ARCHIVE=/tmp/phoenix.tar.gz",
      "PHOENIX_VERSION=${var.app_version}",
    ]
  }

  post-processor "manifest" {
    output     = "dist/packer-manifest.json"
    strip_path = true
  }
}

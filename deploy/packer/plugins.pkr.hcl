# Plugin requirements live apart from phoenix.pkr.hcl: Packer 1.6 (Debian's) does not know the
# `packer` block, and Packer >= 1.7 reads this file when given the directory:
#   packer init deploy/packer && packer build deploy/packer
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

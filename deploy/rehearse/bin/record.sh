#!/usr/bin/env bash
# The boot rehearsal's cfn-signal and CloudWatch agent control script: records the call (one
# line of arguments in $REHEARSAL_LOG/<the name it was called by>) and succeeds.
set -euo pipefail
echo "$*" >>"$REHEARSAL_LOG/$(basename "$0")"

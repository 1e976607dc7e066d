#!/bin/sh
# azd predown hook: remove what `azd up` made in each monitored subscription outside any
# resource group, which `azd down` (it deletes resource groups) would leave behind:
#   - the subscription's Activity Log export to the app's workspace (a diagnostic setting);
#     left alone it keeps pointing at a deleted workspace and holds one of the subscription's
#     five diagnostic-setting slots;
#   - the app identity's role assignments at the subscription (Reader), which would show as
#     "Identity not found" once the identity is gone.
# It reads the outputs azd keeps in the environment. Every removal is tried; if one fails, the
# hook names what is left and stops `azd down`, so that it can be run again after a fix.
set -u
subscriptions="${FOREWARN_MONITORED_SUBSCRIPTIONS:-}"
export_name="${FOREWARN_ACTIVITY_LOG_EXPORT_NAME:-}"
principal="${FOREWARN_IDENTITY_PRINCIPAL_ID:-}"

if [ -z "$subscriptions" ]; then
  echo "forewarn: this environment has no FOREWARN_MONITORED_SUBSCRIPTIONS (never provisioned?); nothing to remove outside its resource groups." >&2
  exit 0
fi
if ! command -v az >/dev/null 2>&1; then
  echo "forewarn: azd down needs the Azure CLI (az, logged in with az login) to remove the Activity Log export and role assignments in each monitored subscription; install it, or remove them by hand (docs/deploy.md step 7), then run azd down again." >&2
  exit 1
fi

left=""
for subscription in $(echo "$subscriptions" | tr ',' ' '); do
  if [ -n "$export_name" ]; then
    echo "forewarn: removing the Activity Log export '$export_name' of subscription $subscription" >&2
    az monitor diagnostic-settings subscription delete --name "$export_name" \
      --subscription "$subscription" --yes --only-show-errors \
      || left="$left\n  diagnostic setting '$export_name' of subscription $subscription"
  fi
  if [ -n "$principal" ]; then
    echo "forewarn: removing the app identity's role assignments at subscription $subscription" >&2
    az role assignment delete --assignee "$principal" --scope "/subscriptions/$subscription" \
      --only-show-errors \
      || left="$left\n  role assignments of $principal at /subscriptions/$subscription"
  fi
done

if [ -n "$left" ]; then
  printf 'forewarn: could not remove:%b\nforewarn: fix the cause (az login? rights in that subscription?) and run azd down again, or remove them by hand: docs/deploy.md step 7.\n' "$left" >&2
  exit 1
fi

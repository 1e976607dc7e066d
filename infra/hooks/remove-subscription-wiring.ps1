# azd predown hook (Windows): the same as remove-subscription-wiring.sh beside it. Removes the
# Activity Log export and the app identity's role assignments in each monitored subscription,
# which `azd down` (it deletes resource groups) would leave behind. docs/deploy.md step 7.
$subscriptions = "$env:FOREWARN_MONITORED_SUBSCRIPTIONS"
$exportName = "$env:FOREWARN_ACTIVITY_LOG_EXPORT_NAME"
$principal = "$env:FOREWARN_IDENTITY_PRINCIPAL_ID"

if (-not $subscriptions) {
  Write-Host "forewarn: this environment has no FOREWARN_MONITORED_SUBSCRIPTIONS (never provisioned?); nothing to remove outside its resource groups."
  exit 0
}
if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
  Write-Error "forewarn: azd down needs the Azure CLI (az, logged in with az login) to remove the Activity Log export and role assignments in each monitored subscription; install it, or remove them by hand (docs/deploy.md step 7), then run azd down again."
  exit 1
}

$left = @()
foreach ($subscription in ($subscriptions -split ',' | Where-Object { $_ })) {
  if ($exportName) {
    Write-Host "forewarn: removing the Activity Log export '$exportName' of subscription $subscription"
    az monitor diagnostic-settings subscription delete --name $exportName --subscription $subscription --yes --only-show-errors
    if ($LASTEXITCODE -ne 0) { $left += "diagnostic setting '$exportName' of subscription $subscription" }
  }
  if ($principal) {
    Write-Host "forewarn: removing the app identity's role assignments at subscription $subscription"
    az role assignment delete --assignee $principal --scope "/subscriptions/$subscription" --only-show-errors
    if ($LASTEXITCODE -ne 0) { $left += "role assignments of $principal at /subscriptions/$subscription" }
  }
}

if ($left.Count -gt 0) {
  Write-Error ("forewarn: could not remove: " + ($left -join '; ') + ". Fix the cause (az login? rights in that subscription?) and run azd down again, or remove them by hand: docs/deploy.md step 7.")
  exit 1
}

// Optional, per VM: installs the forewarn Scheduled Events forwarder (forwarder/) in one existing
// Linux VM with the Custom Script extension. main.bicep does not deploy it; run it for each VM
// that should send its Scheduled Events (docs/operations.md, "Scheduled Events"):
//
//   az deployment group create -g VM-RESOURCE-GROUP -f infra/modules/forwarder-extension.bicep \
//     -p vmName=sql-01 appUrl=https://APP.azurewebsites.net archiveUrl=... archiveSha256=... \
//     -p forwarderKey=@key.txt
//
// The archive is `make forwarder-dist`'s, hosted where the VM can download it (a blob with a
// read-only SAS in the app's storage account, for instance). The VM downloads it, checks its
// sha256 and only then runs its install.sh. The key and the archive address (a SAS is a
// secret) travel in protectedSettings, which Azure keeps encrypted and shows to no one; the
// script exports the key to install.sh rather than putting it on a command line.
targetScope = 'resourceGroup'

@description('Name of the Linux VM, in this resource group, to install the forwarder in. It needs python3 3.11 or newer, curl and systemd.')
param vmName string

@description('Region of the VM (an extension lives in its VM\'s region).')
param location string = resourceGroup().location

@description('The forewarn app\'s address, e.g. https://NAME.azurewebsites.net; the forwarder posts to /api/scheduled-events below it.')
param appUrl string

@description('The app\'s scheduled-events key (FOREWARN_SCHEDULED_EVENTS_KEY, Key Vault secret scheduled-events-key).')
@secure()
@minLength(12)
param forwarderKey string

@description('Where the VM downloads the release archive (make forwarder-dist): an https address, a SAS included when it needs one.')
@secure()
param archiveUrl string

@description('The archive\'s sha256 (the .sha256 file make forwarder-dist writes beside it): the install stops when the download does not match.')
@minLength(64)
@maxLength(64)
param archiveSha256 string

@description('Optional drain command: run when an event is Scheduled; on exit 0 the forwarder approves the event (docs/operations.md). Empty = none.')
param drainCommand string = ''

// A value inside single quotes for sh: each ' becomes '\'' (close, escaped quote, reopen).
var q = '\''
var escapedQuote = '\'\\\'\''

var installScript = format(
  '#!/bin/sh\nset -eu\nd=$(mktemp -d)\ntrap \'rm -rf "$d"\' EXIT\ncurl -fsSL --retry 5 -o "$d/forwarder.tar.gz" {0}\necho \'{1}  \'"$d/forwarder.tar.gz" | sha256sum -c -\ntar -xzf "$d/forwarder.tar.gz" -C "$d"\nexport FOREWARN_FORWARDER_APP_URL={2}\nexport FOREWARN_FORWARDER_KEY={3}\nexport FOREWARN_FORWARDER_DRAIN_COMMAND={4}\nsh "$d"/forewarn-forwarder-*/install.sh\n',
  '${q}${replace(archiveUrl, q, escapedQuote)}${q}',
  toLower(archiveSha256),
  '${q}${replace(appUrl, q, escapedQuote)}${q}',
  '${q}${replace(forwarderKey, q, escapedQuote)}${q}',
  '${q}${replace(drainCommand, q, escapedQuote)}${q}'
)

resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' existing = {
  name: vmName
}

resource forwarder 'Microsoft.Compute/virtualMachines/extensions@2024-07-01' = {
  parent: vm
  name: 'forewarn-forwarder'
  location: location
  properties: {
    publisher: 'Microsoft.Azure.Extensions'
    type: 'CustomScript'
    typeHandlerVersion: '2.1'
    autoUpgradeMinorVersion: true
    // Only protected settings: the script holds the key and the archive's address.
    protectedSettings: {
      script: base64(installScript)
    }
  }
}

output extensionId string = forwarder.id

// Key Vault for the channel secrets (Slack token, Twilio auth token, SMTP password, webhook
// URLs that carry a signature...). The app reads them through Key Vault references in its
// app settings, so a secret's value never appears in the repo, the template or the app's
// configuration blade. RBAC authorization, soft delete and purge protection are on.
targetScope = 'resourceGroup'

@description('Name of the vault (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the vault.')
param location string

@description('Tags for every resource.')
param tags object

@description('Days a deleted vault or secret stays recoverable (7-90). Its name stays taken for as long.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Principal id of the app identity; gets Key Vault Secrets User.')
param appPrincipalId string

@description('Object id of the person (or pipeline) deploying; gets Key Vault Secrets Officer so they can set the secrets. Empty = no assignment.')
param deployerPrincipalId string = ''

@description('Kind of principal deployerPrincipalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

@description('Secret values to store, keyed by secret name. Leave empty (the default) and set the secrets with the Azure CLI instead; see docs/deploy.md.')
@secure()
param secretValues object = {}

// Built-in roles.
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109: The Flex Consumption app has no virtual network here, so it reaches the vault over its public endpoint; access is by Entra RBAC only (no access policies, no keys). A private endpoint needs VNet integration, which forewarn does not deploy.
  //checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109: the app and the deploying user reach the vault over the public endpoint, guarded by RBAC.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Only the entries given are created: with the default (no entries) nothing is.
resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in items(secretValues): {
  //checkov:skip=CKV_AZURE_41: Channel credentials (bot tokens, webhook URLs, SMTP passwords) do not expire on a schedule we know; an expiry date would silently stop deliveries. Rotation is an operator step in docs/deploy.md.
  parent: vault
  name: secret.key
  properties: {
    value: secret.value
    contentType: 'text/plain'
  }
}]

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerWritesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri

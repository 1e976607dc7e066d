// The one identity forewarn runs as. User-assigned (not system-assigned) so that role
// assignments and Key Vault access exist before the Function App first starts, and so the
// identity outlives a re-created app.
targetScope = 'resourceGroup'

@description('Name of the user-assigned managed identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags for every resource.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId

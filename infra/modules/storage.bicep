// The storage account behind the Functions host and forewarn's own state: queues between
// stages, tables for idempotency and the delivery log, a container for payloads too big
// for a queue message, and the container Flex Consumption deploys the app package from.
// Shared keys are off: everything reaches it with the app's managed identity.
//
// The queue, table and container names below must equal shared/names.py
// (tests/unit/test_names_match_infra.py fails when they drift apart).
targetScope = 'resourceGroup'

@description('Name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the account.')
param location string

@description('Tags for every resource.')
param tags object

@description('Replication of the account. Zone- or geo-redundant SKUs cost more; queues are transient.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_LRS'

@description('Blob container that Flex Consumption reads the app package from.')
param deploymentContainerName string

@description('Principal id of the app identity; gets queue, table and blob data roles.')
param appPrincipalId string

// --- names shared with the code (shared/names.py) ---------------------------------------
var queueNames = [
  'events'
  'enriched'
  'deliver-email'
  'deliver-sms'
  'deliver-slack'
  'deliver-teams'
  'deliver-webhook'
  'deliver-pagerduty'
]
// The Functions host moves a message that failed too often to '<queue>-poison'. Creating
// them up front makes them visible (and alertable) before the first failure.
var poisonSuffix = '-poison'
var poisonQueueNames = [for queue in queueNames: '${queue}${poisonSuffix}']
var tableNames = [
  'idempotency'
  'deliverylog'
  'deadletter'
  'messagerefs'
  'silences'
  'instanceviews'
  'catchup'
  'maintenancerecords'
  'endedrecords'
  'eventgroups'
  'acceptedevents'
  'claims'
  'actionsused'
  'slackrequests'
  'actionaudit'
]
var containerNames = [
  'payloads'
]

// Built-in roles.
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var appRoleIds = [
  storageQueueDataContributorRoleId
  storageTableDataContributorRoleId
  storageBlobDataOwnerRoleId
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35: Without VNet integration the Flex Consumption host and azd reach storage over the public endpoint; a deny-by-default firewall would lock them out. Shared keys are disabled, so every request needs an Entra token and a data role.
  //checkov:skip=CKV_AZURE_59: Same reason as CKV_AZURE_35; public blob access (anonymous reads) is off via allowBlobPublicAccess false.
  //checkov:skip=CKV_AZURE_206: Replication is a parameter (skuName). LRS is the default because the data is transient (queues) or rebuildable (idempotency keys, caches); choose a GRS or GZRS SKU for a longer-lived delivery log.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Claim-check bodies (a queue message's body over 64 KiB, a grouped notice) are read within a
// queue message's life (7 days); the service deletes them 30 days after they were written.
// Dead letters' job blobs (deadletter/) are not matched: the sweep deletes each with its row
// (shared/retention.py, FOREWARN_RETENTION_DAYS).
resource payloadLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'expire-claim-check-payloads'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'payloads/event/'
                'payloads/enriched/'
                'payloads/delivery/'
                'payloads/group/'
                'payloads/groups/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 30
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in concat(queueNames, poisonQueueNames): {
  parent: queueService
  name: queue
}]

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tableNames: {
  parent: tableService
  name: table
}]

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containerNames: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in appRoleIds: {
  name: guid(account.id, appPrincipalId, roleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table

// Everything forewarn needs in one monitored subscription: read access for enrichment
// (instance views, Resource Graph, Service Health impacted resources) and the alert rules that
// feed it. Nothing more by default: `forewarn start-maintenance` runs with the operator's own
// login. Only when Start from the message is enabled does the internet-facing app get one more
// role, a custom one that may start maintenance of a VM and do nothing else (no write, no
// delete, no other action): see docs/operations.md.
targetScope = 'subscription'

@description('Principal id of the forewarn identity.')
param appPrincipalId string

@description('Resource group created in this subscription for the action group and alert rules.')
param alertsResourceGroupName string

@description('Region of that resource group (its alert resources are Global).')
param location string

@description('Tags for every resource.')
param tags object

@description('Prefix for the action group and alert rule names.')
param namePrefix string


@description('Host name of the forewarn Function App.')
param functionHostName string

@description('The alerts key that the action group\'s webhook URI carries.')
@secure()
param alertsKey string

@description('Service Health incident types that reach forewarn.')
param serviceHealthIncidentTypes array

@description('Also send Resource Health events of virtual machines (single and scale-set).')
param enableResourceHealthAlerts bool = true

@description('Also send performMaintenance operations from the Administrative Activity Log.')
param enableAdministrativeAlerts bool = true

@description('Log Analytics workspace (resource id) that receives this subscription\'s Service Health and Resource Health Activity Log, for the catch-up; empty = no export.')
param logAnalyticsWorkspaceId string = ''

@description('Name of that export (a diagnostic setting of the subscription); the predown hook deletes it by this name.')
param activityLogExportName string

@description('Start from the message (FOREWARN_ENABLE_START_FROM_MESSAGE): give the app the custom role that may start maintenance of this subscription\'s VMs, and nothing else.')
param enableStartFromMessage bool = false

@description('Secure Webhook application object id; empty = the alerts key only.')
param secureWebhookObjectId string = ''

@description('Secure Webhook application id URI.')
param secureWebhookIdentifierUri string = ''

@description('Secure Webhook tenant.')
param secureWebhookTenantId string = ''

// Built-in roles.
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Start from the message: exactly the three actions it needs. Reading the VM and its instance
// view again at the moment of confirming (never trusting the message), and starting its
// maintenance. Following the long-running operation (…/locations/operations/read) is covered
// by Reader above. Custom role names are unique in the tenant, so each subscription's carries
// its id and the deployment's prefix.
var startMaintenanceActions = [
  'Microsoft.Compute/virtualMachines/read'
  'Microsoft.Compute/virtualMachines/instanceView/read'
  'Microsoft.Compute/virtualMachines/performMaintenance/action'
]

resource startMaintenanceRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (enableStartFromMessage) {
  name: guid(subscription().id, namePrefix, 'forewarn-start-maintenance')
  properties: {
    roleName: '${namePrefix} start maintenance (${subscription().subscriptionId})'
    description: 'forewarn Start from the message: read a VM and its instance view, and start its planned maintenance. Nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: startMaintenanceActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource startMaintenance 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableStartFromMessage) {
  name: guid(subscription().id, appPrincipalId, 'forewarn-start-maintenance')
  properties: {
    roleDefinitionId: startMaintenanceRole.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'forewarn: Start from the message (docs/operations.md).'
  }
}

// The catch-up finds in AzureActivity the notices whose webhook never arrived.
resource activityLogExport 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: activityLogExportName
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'ServiceHealth'
        enabled: true
      }
      {
        category: 'ResourceHealth'
        enabled: true
      }
    ]
  }
}

resource alertsGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: alertsResourceGroupName
  location: location
  tags: tags
}

module alerts 'alerts.bicep' = {
  // A deployment name holds at most 64 characters and the environment name alone may be 64;
  // the resource group is this environment's own, so a fixed name cannot collide.
  name: 'forewarn-alerts'
  scope: alertsGroup
  params: {
    namePrefix: namePrefix
    tags: tags
    alertsKey: alertsKey
    functionHostName: functionHostName
    serviceHealthIncidentTypes: serviceHealthIncidentTypes
    enableResourceHealthAlerts: enableResourceHealthAlerts
    enableAdministrativeAlerts: enableAdministrativeAlerts
    secureWebhookObjectId: secureWebhookObjectId
    secureWebhookIdentifierUri: secureWebhookIdentifierUri
    secureWebhookTenantId: secureWebhookTenantId
  }
}

output alertsResourceGroupId string = alertsGroup.id
output actionGroupId string = alerts.outputs.actionGroupId

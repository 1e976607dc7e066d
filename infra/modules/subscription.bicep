// Everything forewarn needs in one monitored subscription: read access for enrichment
// (instance views, Resource Graph, Service Health impacted resources), optionally the right
// to start self-service maintenance, and the alert rules that feed it.
targetScope = 'subscription'

@description('Principal id of the forewarn identity.')
param appPrincipalId string

@description('Grant Virtual Machine Contributor so forewarn can start self-service maintenance.')
param enableStartMaintenance bool = false

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

@description('Also send Resource Health events of virtual machines.')
param enableResourceHealthAlerts bool = true

@description('Log Analytics workspace (resource id) that receives this subscription\'s Service Health and Resource Health Activity Log, for the catch-up; empty = no export.')
param logAnalyticsWorkspaceId string = ''

@description('Secure Webhook application object id; empty = function key only.')
param secureWebhookObjectId string = ''

@description('Secure Webhook application id URI.')
param secureWebhookIdentifierUri string = ''

@description('Secure Webhook tenant.')
param secureWebhookTenantId string = ''

// Built-in roles.
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var virtualMachineContributorRoleId = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource maintenanceStarter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableStartMaintenance) {
  name: guid(subscription().id, appPrincipalId, virtualMachineContributorRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', virtualMachineContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The catch-up finds in AzureActivity the notices whose webhook never arrived.
resource activityLogExport 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: '${namePrefix}-activity-log'
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
  name: '${namePrefix}-alerts'
  scope: alertsGroup
  params: {
    namePrefix: namePrefix
    tags: tags
    alertsKey: alertsKey
    functionHostName: functionHostName
    serviceHealthIncidentTypes: serviceHealthIncidentTypes
    enableResourceHealthAlerts: enableResourceHealthAlerts
    secureWebhookObjectId: secureWebhookObjectId
    secureWebhookIdentifierUri: secureWebhookIdentifierUri
    secureWebhookTenantId: secureWebhookTenantId
  }
}

output alertsResourceGroupId string = alertsGroup.id
output actionGroupId string = alerts.outputs.actionGroupId

// Everything forewarn needs in one monitored subscription: read access for enrichment
// (instance views, Resource Graph, Service Health impacted resources) and the alert rules that
// feed it. Nothing more: no function starts maintenance (`forewarn start-maintenance` runs with
// the operator's own login), so the internet-facing app gets no write role here.
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

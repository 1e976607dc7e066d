// One monitored subscription's wiring to forewarn: an action group whose webhook posts to
// POST /api/alerts, and Activity Log alert rules for Service Health, Resource Health and the
// performMaintenance operations of the Administrative category.
// Deployed into a resource group of that subscription, because an Activity Log alert rule
// watches the subscription it lives in.
targetScope = 'resourceGroup'

@description('Prefix for the action group and alert rule names.')
param namePrefix string

@description('Tags for every resource.')
param tags object

@description('The alerts key: it opens POST /api/alerts and nothing else, so the URI that carries it (readable by anyone with Reader here) opens nothing else either.')
@secure()
param alertsKey string

@description('Host name of the Function App, e.g. func-abc.azurewebsites.net.')
param functionHostName string

@description('Service Health incident types that reach forewarn.')
param serviceHealthIncidentTypes array

@description('Also send Resource Health events of virtual machines (single and scale-set).')
param enableResourceHealthAlerts bool = true

@description('Also send performMaintenance operations (started in the portal, with az, by any tool) from the Administrative Activity Log.')
param enableAdministrativeAlerts bool = true

@description('Object id of the Entra application (service principal) that protects /api/alerts; empty = no Secure Webhook.')
param secureWebhookObjectId string = ''

@description('Application id URI of that application.')
param secureWebhookIdentifierUri string = ''

@description('Tenant of that application.')
param secureWebhookTenantId string = ''

var useSecureWebhook = !empty(secureWebhookObjectId)

// Resource Health reports single VMs, scale sets and each VM of a scale set; forewarn handles
// all three (shared/parsing/normalise.py).
var vmResourceTypes = [
  'Microsoft.Compute/virtualMachines'
  'Microsoft.Compute/virtualMachineScaleSets'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
]

// Starting a VM's maintenance, as the Activity Log names it: a VM, a scale set (for the
// instances it names) or one VM of a scale set.
var performMaintenanceOperations = [
  'Microsoft.Compute/virtualMachines/performMaintenance/action'
  'Microsoft.Compute/virtualMachineScaleSets/performMaintenance/action'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/performMaintenance/action'
]

// The key travels in the URI (the Action Group cannot send headers), so a key rotation means
// re-running this deployment: see docs/deploy.md step 6.
var alertsUrl = 'https://${functionHostName}/api/alerts'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ag'
  // Service Health only drives action groups whose region is Global.
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'forewarn'
    enabled: true
    webhookReceivers: [
      {
        name: 'forewarn'
        serviceUri: '${alertsUrl}?code=${uriComponent(alertsKey)}'
        useCommonAlertSchema: true
        useAadAuth: useSecureWebhook
        objectId: useSecureWebhook ? secureWebhookObjectId : null
        identifierUri: useSecureWebhook ? secureWebhookIdentifierUri : null
        tenantId: useSecureWebhook ? secureWebhookTenantId : null
      }
    ]
  }
}

var incidentTypeConditions = [for incidentType in serviceHealthIncidentTypes: {
  field: 'properties.incidentType'
  equals: incidentType
}]

resource serviceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: '${namePrefix}-service-health'
  location: 'Global'
  tags: tags
  properties: {
    enabled: true
    description: 'Service Health notices (${join(serviceHealthIncidentTypes, ', ')}) for this subscription, sent to forewarn.'
    scopes: [
      subscription().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ServiceHealth'
        }
        {
          anyOf: incidentTypeConditions
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
}

resource resourceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = if (enableResourceHealthAlerts) {
  name: '${namePrefix}-vm-resource-health'
  location: 'Global'
  tags: tags
  properties: {
    enabled: true
    description: 'Platform-initiated Resource Health events (Unavailable, Degraded) of virtual machines and scale sets in this subscription, sent to forewarn.'
    scopes: [
      subscription().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ResourceHealth'
        }
        {
          anyOf: [for resourceType in vmResourceTypes: {
            field: 'resourceType'
            equals: resourceType
          }]
        }
        // Only what forewarn acts on: the platform took a VM down or degraded it. User
        // reboots and transitions back to Available are not maintenance.
        {
          field: 'properties.cause'
          equals: 'PlatformInitiated'
        }
        {
          anyOf: [
            {
              field: 'properties.currentHealthStatus'
              equals: 'Unavailable'
            }
            {
              field: 'properties.currentHealthStatus'
              equals: 'Degraded'
            }
          ]
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
}

// Maintenance started outside forewarn: the app updates the VM's record, stops its reminders
// and says in the wave's thread who started it and when. Every status (Started, Succeeded,
// Failed) is sent; the app tells them apart.
resource performMaintenance 'Microsoft.Insights/activityLogAlerts@2020-10-01' = if (enableAdministrativeAlerts) {
  name: '${namePrefix}-perform-maintenance'
  location: 'Global'
  tags: tags
  properties: {
    enabled: true
    description: 'Self-service maintenance started on a virtual machine or scale set in this subscription (portal, az, any tool), sent to forewarn.'
    scopes: [
      subscription().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'Administrative'
        }
        {
          anyOf: [for operation in performMaintenanceOperations: {
            field: 'operationName'
            equals: operation
          }]
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
output serviceHealthAlertId string = serviceHealth.id

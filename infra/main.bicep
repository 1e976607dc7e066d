// forewarn: Azure planned-maintenance notices turned into per-VM messages.
//
// `azd up` deploys this file at subscription scope. It creates one resource group with the
// Function App (Flex Consumption) and what it needs (identity, storage, Key Vault,
// monitoring), then wires every monitored subscription to it: read access for enrichment and
// Activity Log alert rules whose action group posts to the app. The app's identity is a
// reader of the watched subscriptions; starting maintenance is the CLI's, with the operator's
// own login, unless enableStartFromMessage adds a custom role that may start maintenance and
// nothing else (subscription.bicep). docs/deploy.md walks through
// it; its "Decisions" section says why things are the way they are.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment. Used in resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for the app and its resources. It must offer the Flex Consumption plan.')
param location string

@description('Object id of whoever runs azd (azd fills in AZURE_PRINCIPAL_ID). Gets Key Vault Secrets Officer on the vault so they can set the channel secrets. Empty = no assignment.')
param principalId string = ''

@description('Kind of principal principalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Subscriptions to watch: their Service Health and VM Resource Health alerts go to forewarn, and forewarn may read their VMs. Empty = the subscription azd deploys to.')
param monitoredSubscriptionIds array = []

@description('Subscriptions whose alerts forewarn accepts (FOREWARN_ALLOWED_SUBSCRIPTIONS). Empty = the monitored subscriptions.')
param allowedSubscriptionIds array = []

@description('Service Health incident types sent to forewarn besides Maintenance, which is always sent.')
@allowed([
  'Maintenance'
  'Incident'
  'Security'
  'ActionRequired'
  'Informational'
])
param serviceHealthIncidentTypes array = [
  'Maintenance'
]

@description('Also send Resource Health events of virtual machines (single and scale-set) to forewarn.')
param enableResourceHealthAlerts bool = true

@description('Also send performMaintenance operations started outside forewarn (portal, az, another tool) from the Administrative Activity Log, so that forewarn stops reminding of a maintenance that is under way and says who started it.')
param enableAdministrativeAlerts bool = true

@description('Secure Webhook: object id of the Entra application that protects /api/alerts. Empty = the action group authenticates with the alerts key only.')
param secureWebhookObjectId string = ''

@description('Secure Webhook: application id URI of that application (also the token audience unless secureWebhookAudience is set).')
param secureWebhookIdentifierUri string = ''

@description('Secure Webhook: tenant of that application. Empty = this deployment\'s tenant.')
param secureWebhookTenantId string = ''

@description('Secure Webhook: audience forewarn expects in the token. Empty = secureWebhookIdentifierUri.')
param secureWebhookAudience string = ''

@description('Routing file path relative to the app root (FOREWARN_CONFIG).')
param forewarnConfigPath string = 'forewarn.yaml'

@description('App settings backed by Key Vault secrets: objects { setting, secretName }. The names are not secret; the values are set in the vault (docs/deploy.md).')
param channelSecrets array = []

@description('Optional secret values keyed by secret name, stored in the vault at deployment. Leave empty (the default) to set them with the Azure CLI instead; nothing is created then.')
@secure()
param channelSecretValues object = {}

@description('The alerts key: opens POST /api/alerts and nothing else; every action group\'s webhook URI carries it. azd reads it back from the vault (secret alerts-key) or generates one on the first provision; docs/deploy.md step 6 rotates it.')
@secure()
@minLength(12)
param alertsKey string

@description('During a rotation only: the key being retired, still accepted until every action group carries the new one. Empty = none.')
@secure()
param alertsKeyPrevious string = ''

@description('The Scheduled Events forwarders\' signing key (forwarder/, docs/operations.md): opens POST /api/scheduled-events only. Empty = the route answers 503 until one is set.')
@secure()
param scheduledEventsKey string = ''

@description('Signs the action links in messages (FOREWARN_ACTION_LINK_KEY): azd reads it back from the vault (secret action-link-key) or generates one on the first provision. Changing it voids every link already sent.')
@secure()
@minLength(16)
param actionLinkKey string

@description('The Slack app\'s signing secret (FOREWARN_SLACK_SIGNING_SECRET): checks the button presses Slack posts to POST /api/slack/interactivity. Empty = that route answers 503.')
@secure()
param slackSigningSecret string = ''

@description('Opens the board page GET /api/waves/{tracking_id} (FOREWARN_BOARD_READ_KEY) and nothing else: azd reads it back from the vault (secret board-read-key) or generates one on the first provision.')
@secure()
@minLength(16)
param boardReadKey string

@description('Start maintenance from the message (FOREWARN_ENABLE_START_FROM_MESSAGE): gives the app\'s identity a custom role on each watched subscription that may read VMs and start their maintenance, nothing else. Off: no such role and no Start links. See docs/operations.md before turning it on.')
param enableStartFromMessage bool = false

@description('App Service authentication (Entra ID sign-in) is configured in front of /api/actions (FOREWARN_ACTIONS_SIGN_IN=easyauth): only then does the app trust its principal headers to say who pressed Start. See docs/deploy.md.')
param actionsSignInEasyAuth bool = false

@description('The app\'s public base URL (FOREWARN_PUBLIC_URL), e.g. https://APP.azurewebsites.net: messages carry action links under it. Empty = no links.')
param publicUrl string = ''

@description('Upper bound of Function App instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per Function App instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Replication of the storage account.')
param storageSkuName string = 'Standard_LRS'

@description('Days a deleted Key Vault stays recoverable; its name stays taken for as long.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Changes every name derived from the environment (resource token), e.g. to provision again after `azd down` while the soft-deleted Key Vault still holds the old name. Empty = the names of earlier releases.')
@maxLength(16)
param nameSuffix string = ''

@description('Days logs are kept in Log Analytics.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// A suffix changes every name; without one the names stay those of earlier releases (a fourth,
// empty argument would change the hash, and with it every name, on the next provision).
var resourceToken = toLower(empty(nameSuffix) ? uniqueString(subscription().id, environmentName, location) : uniqueString(subscription().id, environmentName, location, nameSuffix))
var tags = {
  'azd-env-name': environmentName
}
var namePrefix = 'forewarn-${environmentName}'
// The subscription-level Activity Log export; the predown hook deletes it by this name.
var activityLogExportName = '${namePrefix}-activity-log'
var monitoredSubscriptions = empty(monitoredSubscriptionIds) ? [
  subscription().subscriptionId
] : monitoredSubscriptionIds
var allowedSubscriptions = empty(allowedSubscriptionIds) ? monitoredSubscriptions : allowedSubscriptionIds
var incidentTypes = union([
  'Maintenance'
], serviceHealthIncidentTypes)
var useSecureWebhook = !empty(secureWebhookObjectId)
var webhookTenantId = empty(secureWebhookTenantId) ? tenant().tenantId : secureWebhookTenantId
var webhookAudience = empty(secureWebhookAudience) ? secureWebhookIdentifierUri : secureWebhookAudience
var deploymentContainerName = 'app-package'
var alertsKeySecretName = 'alerts-key'
var alertsKeyPreviousSecretName = empty(alertsKeyPrevious) ? '' : 'alerts-key-previous'
// Written by this deployment, so the app's reference and the action groups' URIs agree
// without reading any key back from the app.
var actionLinkKeySecretName = 'action-link-key'
var boardReadKeySecretName = 'board-read-key'
var alertsKeySecrets = union({
  '${alertsKeySecretName}': alertsKey
  '${actionLinkKeySecretName}': actionLinkKey
  '${boardReadKeySecretName}': boardReadKey
}, empty(alertsKeyPrevious) ? {} : {
  'alerts-key-previous': alertsKeyPrevious
})
var scheduledEventsKeySecretName = empty(scheduledEventsKey) ? '' : 'scheduled-events-key'
var scheduledEventsKeySecrets = empty(scheduledEventsKey) ? {} : {
  'scheduled-events-key': scheduledEventsKey
}
var slackSigningSecretName = empty(slackSigningSecret) ? '' : 'slack-signing-secret'
var slackSigningSecrets = empty(slackSigningSecret) ? {} : {
  'slack-signing-secret': slackSigningSecret
}

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'forewarn-identity'
  scope: group
  params: {
    name: 'id-forewarn-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'forewarn-monitoring'
  scope: group
  params: {
    logAnalyticsName: 'log-forewarn-${resourceToken}'
    applicationInsightsName: 'appi-forewarn-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'forewarn-storage'
  scope: group
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    appPrincipalId: identity.outputs.principalId
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'forewarn-keyvault'
  scope: group
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    secretValues: union(channelSecretValues, alertsKeySecrets, scheduledEventsKeySecrets, slackSigningSecrets)
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'forewarn-functionapp'
  scope: group
  params: {
    name: 'func-forewarn-${resourceToken}'
    planName: 'plan-forewarn-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    logAnalyticsCustomerId: monitoring.outputs.logAnalyticsCustomerId
    keyVaultUri: vault.outputs.uri
    channelSecrets: channelSecrets
    alertsKeySecretName: alertsKeySecretName
    alertsKeyPreviousSecretName: alertsKeyPreviousSecretName
    scheduledEventsKeySecretName: scheduledEventsKeySecretName
    slackSigningSecretName: slackSigningSecretName
    actionLinkKeySecretName: actionLinkKeySecretName
    boardReadKeySecretName: boardReadKeySecretName
    publicUrl: publicUrl
    enableStartFromMessage: enableStartFromMessage
    actionsSignInEasyAuth: actionsSignInEasyAuth
    allowedSubscriptionIds: allowedSubscriptions
    configPath: forewarnConfigPath
    secureWebhookTenantId: useSecureWebhook ? webhookTenantId : ''
    secureWebhookAudience: useSecureWebhook ? webhookAudience : ''
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module monitored 'modules/subscription.bicep' = [for subscriptionId in monitoredSubscriptions: {
  name: 'forewarn-sub-${uniqueString(subscriptionId, environmentName)}'
  scope: subscription(subscriptionId)
  params: {
    appPrincipalId: identity.outputs.principalId
    alertsResourceGroupName: 'rg-${environmentName}-alerts'
    location: location
    tags: tags
    namePrefix: namePrefix
    functionHostName: app.outputs.defaultHostName
    alertsKey: alertsKey
    serviceHealthIncidentTypes: incidentTypes
    enableResourceHealthAlerts: enableResourceHealthAlerts
    enableAdministrativeAlerts: enableAdministrativeAlerts
    enableStartFromMessage: enableStartFromMessage
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    activityLogExportName: activityLogExportName
    secureWebhookObjectId: useSecureWebhook ? secureWebhookObjectId : ''
    secureWebhookIdentifierUri: useSecureWebhook ? secureWebhookIdentifierUri : ''
    secureWebhookTenantId: useSecureWebhook ? webhookTenantId : ''
  }
}]

// azd stores these outputs in the environment (.azure/<env>/.env); docs/deploy.md uses them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = vault.outputs.uri
output FOREWARN_FUNCTION_APP_NAME string = app.outputs.name
output FOREWARN_ALERTS_URL string = 'https://${app.outputs.defaultHostName}/api/alerts'
output FOREWARN_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output FOREWARN_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output FOREWARN_MONITORED_SUBSCRIPTIONS string = join(monitoredSubscriptions, ',')
// Read by the predown hook (infra/hooks/remove-subscription-wiring.*).
output FOREWARN_ACTIVITY_LOG_EXPORT_NAME string = activityLogExportName

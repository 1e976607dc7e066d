// The Function App on the Flex Consumption plan (FC1): Linux, Python 3.11, code deployed by
// azd into a blob container that the platform reads with the app's managed identity.
// Every connection is identity-based; secrets come from Key Vault references.
targetScope = 'resourceGroup'

@description('Name of the Function App; also the host name <name>.azurewebsites.net.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Region of the plan and the app. Must offer Flex Consumption.')
param location string

@description('Tags for every resource; the app also gets azd-service-name.')
param tags object

@description('Service name in azure.yaml that azd deploys to this app.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Storage endpoints (https://<account>.<service>.core.windows.net/).')
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Key Vault URI (ends with a slash), for Key Vault references.')
param keyVaultUri string

@description('App settings that hold Key Vault references: objects with setting (the app setting name) and secretName (the secret in the vault).')
param channelSecrets array = []

@description('Key Vault secret holding the alerts key (FOREWARN_ALERTS_KEY).')
param alertsKeySecretName string

@description('Key Vault secret holding the key being retired during a rotation; empty = none.')
param alertsKeyPreviousSecretName string = ''

@description('Key Vault secret holding the Scheduled Events forwarders\' key (FOREWARN_SCHEDULED_EVENTS_KEY); empty = none.')
param scheduledEventsKeySecretName string = ''

@description('Key Vault secret holding the Slack app\'s signing secret (FOREWARN_SLACK_SIGNING_SECRET); empty = none.')
param slackSigningSecretName string = ''

@description('Key Vault secret holding the action link key (FOREWARN_ACTION_LINK_KEY).')
param actionLinkKeySecretName string

@description('Key Vault secret holding the board page\'s read key (FOREWARN_BOARD_READ_KEY).')
param boardReadKeySecretName string

@description('Public base URL for action links (FOREWARN_PUBLIC_URL); empty = no links in messages.')
param publicUrl string = ''

@description('Start from the message (FOREWARN_ENABLE_START_FROM_MESSAGE).')
param enableStartFromMessage bool = false

@description('App Service authentication is in front of /api/actions (FOREWARN_ACTIONS_SIGN_IN=easyauth).')
param actionsSignInEasyAuth bool = false

@description('Subscriptions whose alerts forewarn accepts (FOREWARN_ALLOWED_SUBSCRIPTIONS).')
param allowedSubscriptionIds array

@description('Routing file path, relative to the app root (FOREWARN_CONFIG).')
param configPath string

@description('Entra tenant of the Secure Webhook app registration; empty when Secure Webhook is off.')
param secureWebhookTenantId string = ''

@description('Audience the Secure Webhook token must carry (application id URI or client id); empty when Secure Webhook is off.')
param secureWebhookAudience string = ''

@description('Log Analytics workspace id (customerId) that the catch-up and quietest hour query; empty = off.')
param logAnalyticsCustomerId string = ''

@description('Upper bound of instances Flex Consumption may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

var useSecureWebhook = !empty(secureWebhookTenantId) && !empty(secureWebhookAudience)
// Everything cloud-specific comes from environment(), so the same template serves sovereign
// clouds: the login endpoint here, the ARM endpoint below (the app derives its Log Analytics
// endpoint from that one: shared/loganalytics/client.py).
var loginEndpoint = environment().authentication.loginEndpoint
// v1.0 tokens name the security token service of the cloud's directory as issuer; environment()
// has no property for it, so it is looked up by the cloud's name. An unknown cloud gets the
// v2.0 issuer only (the registration docs/deploy.md describes issues v2.0 tokens).
var v1IssuerHosts = {
  AzureCloud: 'https://sts.windows.net/'
  AzureUSGovernment: 'https://sts.windows.net/'
  AzureChinaCloud: 'https://sts.chinacloudapi.cn/'
}
var v1IssuerHost = contains(v1IssuerHosts, environment().name) ? v1IssuerHosts[environment().name] : ''

// Host storage and telemetry: identity-based, as the Functions host documents for
// AzureWebJobsStorage__* (credential + clientId + one URI per service).
var platformSettings = [
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: queueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: tableEndpoint
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
]

// forewarn's own settings (names from shared/names.py).
var forewarnSettings = [
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'FOREWARN_ALLOWED_SUBSCRIPTIONS'
    value: join(allowedSubscriptionIds, ',')
  }
  {
    name: 'FOREWARN_ARM_ENDPOINT'
    value: environment().resourceManager
  }
  {
    name: 'FOREWARN_CONFIG'
    value: configPath
  }
  {
    name: 'FOREWARN_PLAN_LEAD_MINUTES'
    value: '60'
  }
  {
    name: 'FOREWARN_LOG_ANALYTICS_WORKSPACE_ID'
    value: logAnalyticsCustomerId
  }
  {
    name: 'FOREWARN_SWEEP_SCHEDULE'
    value: '0 0 */6 * * *'
  }
  {
    name: 'FOREWARN_SWEEP_SUBSCRIPTIONS'
    value: join(allowedSubscriptionIds, ',')
  }
  {
    name: 'FOREWARN_RESOURCE_GRAPH'
    value: 'on'
  }
  {
    name: 'FOREWARN_REMINDER_SCHEDULE'
    value: '0 30 * * * *'
  }
  {
    name: 'FOREWARN_REMINDER_OFFSETS'
    value: 'self_service=72h,24h;scheduled=24h'
  }
  {
    name: 'FOREWARN_GROUP_WAIT_SECONDS'
    value: '60'
  }
  {
    name: 'FOREWARN_RETENTION_DAYS'
    value: '90'
  }
  {
    name: 'FOREWARN_AUDIT_RETENTION_DAYS'
    value: '365'
  }
]

var secureWebhookSettings = useSecureWebhook ? [
  {
    name: 'FOREWARN_SECURE_WEBHOOK_TENANT_ID'
    value: secureWebhookTenantId
  }
  {
    name: 'FOREWARN_SECURE_WEBHOOK_AUDIENCE'
    value: secureWebhookAudience
  }
  {
    name: 'FOREWARN_SECURE_WEBHOOK_JWKS_URL'
    value: '${loginEndpoint}${secureWebhookTenantId}/discovery/v2.0/keys'
  }
  {
    name: 'FOREWARN_SECURE_WEBHOOK_ISSUERS'
    value: empty(v1IssuerHost) ? '${loginEndpoint}${secureWebhookTenantId}/v2.0' : '${loginEndpoint}${secureWebhookTenantId}/v2.0,${v1IssuerHost}${secureWebhookTenantId}/'
  }
] : []

// Versionless references: a new secret version is picked up without redeploying.
var channelSecretSettings = [for secret in channelSecrets: {
  name: secret.setting
  value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secret.secretName}/)'
}]

// The alerts key opens POST /api/alerts only (the app checks it; the route is anonymous to
// the platform). The previous key is set only while a rotation is under way.
var alertsKeySettings = concat([
  {
    name: 'FOREWARN_ACTION_LINK_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${actionLinkKeySecretName}/)'
  }
  {
    name: 'FOREWARN_BOARD_READ_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${boardReadKeySecretName}/)'
  }
  {
    name: 'FOREWARN_PUBLIC_URL'
    value: publicUrl
  }
  {
    name: 'FOREWARN_ENABLE_START_FROM_MESSAGE'
    value: enableStartFromMessage ? 'true' : ''
  }
  {
    name: 'FOREWARN_ACTIONS_SIGN_IN'
    value: actionsSignInEasyAuth ? 'easyauth' : ''
  }
  {
    name: 'FOREWARN_ALERTS_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${alertsKeySecretName}/)'
  }
], empty(alertsKeyPreviousSecretName) ? [] : [
  {
    name: 'FOREWARN_ALERTS_KEY_PREVIOUS'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${alertsKeyPreviousSecretName}/)'
  }
])

// The forwarders' key opens POST /api/scheduled-events only, as the alerts key opens alerts.
// FOREWARN_SCHEDULED_EVENTS_KEY_PREVIOUS (a rotation) is set by hand while it lasts.
var scheduledEventsKeySettings = empty(scheduledEventsKeySecretName) ? [] : [
  {
    name: 'FOREWARN_SCHEDULED_EVENTS_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${scheduledEventsKeySecretName}/)'
  }
]

// Slack's signing secret checks POST /api/slack/interactivity (buttons on Slack messages).
var slackSigningSettings = empty(slackSigningSecretName) ? [] : [
  {
    name: 'FOREWARN_SLACK_SIGNING_SECRET'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${slackSigningSecretName}/)'
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225: Zone redundancy on Flex Consumption keeps at least two always-ready instances per function group, billed around the clock; a notification relay whose sender (Action Group) retries does not need it. Set properties.zoneRedundant if your availability target does.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222: Action Group webhooks are delivered from Azure Monitor over the internet and need a public endpoint; requests are authenticated by the alerts key and, when configured, Secure Webhook (Entra token).
  //checkov:skip=CKV_AZURE_17: An Action Group cannot present a client certificate, so requiring one would reject every alert.
  //checkov:skip=CKV_AZURE_212: Flex Consumption has no fixed instance count to set; the platform scales instances per demand.
  //checkov:skip=CKV_AZURE_213: The platform health check is not offered on Flex Consumption; GET /api/health exists for external probes.
  //checkov:skip=CKV_AZURE_78: Flex Consumption offers no FTP or FTPS deployment at all, so there is no ftpsState to set (setting it is a Bicep linter warning); basic-auth publishing is off as well (scmBasicAuth below).
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': azdServiceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: concat(platformSettings, forewarnSettings, secureWebhookSettings, channelSecretSettings, alertsKeySettings, scheduledEventsKeySettings, slackSigningSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No basic-auth publishing: azd deploys with Entra credentials. Flex Consumption has no FTP
// endpoint, so there is no 'ftp' policy to turn off. The location is the app's: some API
// versions refuse the policy without one ("The parameter location has an invalid value").
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  location: location
  properties: {
    allow: false
  }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName

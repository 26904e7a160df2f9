#!/usr/bin/env bash
# Create the scheduled Container Apps job that runs the ACR report daily with a user-assigned managed identity,
# and give that identity the roles acrlib needs (read-only on the registries; write on the history container).
# Fill in the names below; run with the Azure CLI signed in as someone who may assign roles.
set -euo pipefail

RESOURCE_GROUP=acrlib
ENVIRONMENT=acrlib-env                 # an existing Container Apps environment
REGISTRY=contosotools                  # the registry holding the acrlib-report image
STORAGE=contosoreports                 # the storage account: history container "acrlib", static website "$web"
IDENTITY=acrlib-report
SUBSCRIPTIONS="$(az account show --query id -o tsv)"   # every subscription whose registries are reported
WORKSPACE_ID=""                        # a Log Analytics workspace with the registries' event logs (optional)

az identity create --name "$IDENTITY" --resource-group "$RESOURCE_GROUP"
IDENTITY_ID="$(az identity show --name "$IDENTITY" --resource-group "$RESOURCE_GROUP" --query id -o tsv)"
CLIENT_ID="$(az identity show --name "$IDENTITY" --resource-group "$RESOURCE_GROUP" --query clientId -o tsv)"
PRINCIPAL_ID="$(az identity show --name "$IDENTITY" --resource-group "$RESOURCE_GROUP" --query principalId -o tsv)"
STORAGE_ID="$(az storage account show --name "$STORAGE" --resource-group "$RESOURCE_GROUP" --query id -o tsv)"

for SUBSCRIPTION in $SUBSCRIPTIONS; do
  # Resource Graph discovery, registry usage, what runs where
  az role assignment create --assignee-object-id "$PRINCIPAL_ID" --assignee-principal-type ServicePrincipal \
    --role Reader --scope "/subscriptions/$SUBSCRIPTION"
  # the registries' repositories, manifests and tags (metadata_read); "Container Registry Repository Reader"
  # on registries that use ABAC repository permissions
  az role assignment create --assignee-object-id "$PRINCIPAL_ID" --assignee-principal-type ServicePrincipal \
    --role AcrPull --scope "/subscriptions/$SUBSCRIPTION"
done
if [ -n "$WORKSPACE_ID" ]; then   # pull activity from the registries' event logs
  az role assignment create --assignee-object-id "$PRINCIPAL_ID" --assignee-principal-type ServicePrincipal \
    --role "Log Analytics Reader" --scope "$WORKSPACE_ID"
fi
for CONTAINER in acrlib '$web'; do   # the history, and the published report
  az role assignment create --assignee-object-id "$PRINCIPAL_ID" --assignee-principal-type ServicePrincipal \
    --role "Storage Blob Data Contributor" --scope "$STORAGE_ID/blobServices/default/containers/$CONTAINER"
done

az containerapp job create --name acr-report --resource-group "$RESOURCE_GROUP" --environment "$ENVIRONMENT" \
  --trigger-type Schedule --cron-expression "17 5 * * *" --replica-timeout 5400 --replica-retry-limit 0 \
  --image "$REGISTRY.azurecr.io/acrlib-report:1" --registry-server "$REGISTRY.azurecr.io" \
  --registry-identity "$IDENTITY_ID" --mi-user-assigned "$IDENTITY_ID" --cpu 1 --memory 2Gi \
  --env-vars "AZURE_CLIENT_ID=$CLIENT_ID" "AZURE_STORAGE_ACCOUNT_NAME=$STORAGE"

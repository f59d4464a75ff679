# The Firestore database holding configuration and run state, and the composite indexes the
# store's queries need, read from ../firestore/firestore.indexes.json (Firebase's format) so that
# the file the store's tests check is the one deployed.

resource "google_firestore_database" "maestro" {
  count       = var.create_firestore_database ? 1 : 0
  name        = var.firestore_database
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"
  depends_on  = [google_project_service.apis]
}

locals {
  firestore_indexes_file = "${path.module}/../firestore/firestore.indexes.json"
  firestore_indexes = fileexists(local.firestore_indexes_file) ? {
    for ix in jsondecode(file(local.firestore_indexes_file)).indexes :
    join("|", concat([ix.collectionGroup, lookup(ix, "queryScope", "COLLECTION")], [for f in ix.fields : "${f.fieldPath}:${lookup(f, "order", lookup(f, "arrayConfig", ""))}"])) => ix
  } : {}
}

resource "google_firestore_index" "maestro" {
  for_each    = local.firestore_indexes
  database    = var.firestore_database
  collection  = each.value.collectionGroup
  query_scope = lookup(each.value, "queryScope", "COLLECTION")
  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = lookup(fields.value, "order", null)
      array_config = lookup(fields.value, "arrayConfig", null)
    }
  }
  depends_on = [google_firestore_database.maestro]
}

variable "key_id" { type = string }
variable "secret" {
  type      = string
  sensitive = true
}
resource "terraform_data" "template" {
  input = { kms_key_id = var.key_id, user_data = var.secret }
}
output "template_id" { value = terraform_data.template.id }

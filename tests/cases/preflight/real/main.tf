variable "secret" {
  type      = string
  sensitive = true
  default   = "s3cr3t"
}
resource "terraform_data" "key" {
  input = "key-material"
}
module "inner" {
  source  = "./modules/inner"
  key_id  = terraform_data.key.id
  secret  = var.secret
}
resource "terraform_data" "asg" {
  count = 2
  input = { template = module.inner.template_id, n = count.index }
}

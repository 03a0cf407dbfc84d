output "id" {
  description = "Changes whenever the component is rebuilt."
  value       = terraform_data.this.id
}

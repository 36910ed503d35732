resource "aws_security_group" "web-node" {
  # a comment
  vpc_security_group_ids = [
  "${aws_security_group.web-node.id}"]
  tags = merge({
    Name = "${local.prefix}-sg"
    }, {
    yor_trace = "b7af1b40"
  })
  user_data = <<EOF
#! /bin/bash
echo "<h1>hi</h1>" | tee /var/www/html/index.html
EOF
  policy = <<-POLICY
    {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "${aws_s3_bucket.b.arn}"}]}
  POLICY
  dynamic "ingress" {
    for_each = var.rules
    content {
      from_port = ingress.value.port
    }
  }
}

locals {
  x   = var.a ? "b" : "c"
  y   = { for k, v in var.m : k => v if v != null }
  z   = [for s in var.list : upper(s)]
  w   = "%{ if var.x }yes%{ else }no%{ endif }"
  esc = "a $${literal} b \u00e9 \n"
  q   = "quote \" inside ${var.x} and \"${var.y}\""
  n   = -1.5e3
  sp  = aws_instance.web[*].id
  lng = (var.a
    + var.b)
  obj = { "key.with.dots" = 1, plain: [1, 2, { a = null }], (var.k) = true }
  /* block
     comment */
  enc = jsonencode({ Statement = [{ Effect = "Allow" }] })
}

locals {
  bucket_arn = coalesce(var.bucket_arn, "arn:aws:s3:::${var.bucket}")
  # "arn:aws:sqs:eu-west-1:111:q" -> "https://sqs.eu-west-1.amazonaws.com/111/q"
  queue_ids = { for k, v in var.sqs : k => format("https://%s.%s.amazonaws.com/%s/%s", data.aws_arn.queue[k].service, data.aws_arn.queue[k].region, data.aws_arn.queue[k].account, data.aws_arn.queue[k].resource) if lookup(v, "queue_id", "") == "" }
}

resource "aws_s3_bucket_notification" "this" {
  count = var.create && (length(var.lambda) > 0 || length(var.sqs) > 0) ? 1 : 0

  bucket = var.bucket

  depends_on = [
    aws_lambda_permission.allow,
    aws_sqs_queue_policy.allow,
  ]
}

resource "aws_sqs_queue_policy" "allow" {
  for_each = var.create_sqs_policy ? var.sqs : tomap({})

  queue_url = lookup(each.value, "queue_id", lookup(local.queue_ids, each.key, null))
  policy    = data.aws_iam_policy_document.sqs[each.key].json
}

variable "rules" {
  type = map(object({
    port = number
    cidr = optional(list(string), ["10.0.0.0/8"])
  }))
  default = {
    ssh = { port = 22, cidr = ["10.0.0.0/8"] }
  }
  validation {
    condition     = alltrue([for r in var.rules : r.port > 0])
    error_message = "Ports must be positive."
  }
}

output "weird" {
  value = <<-EOT
    %{~ for name in var.names ~}
    ${name}
    %{~ endfor ~}
  EOT
}

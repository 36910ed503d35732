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

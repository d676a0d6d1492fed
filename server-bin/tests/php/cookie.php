<?php
setcookie('flavour', 'oatmeal');
setcookie('size', 'large', ['path' => '/app/', 'httponly' => true]);
echo "cookies set\n";

<?php
http_response_code(418);
echo "I'm a teapot\n";

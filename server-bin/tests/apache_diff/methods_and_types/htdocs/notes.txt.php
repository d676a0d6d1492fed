txtphp

file of type js

file of type mjs

file of type php
